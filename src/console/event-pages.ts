// (being written)
import type { PageModule } from './index.js';

export const registerEventPages: PageModule = () => undefined;
