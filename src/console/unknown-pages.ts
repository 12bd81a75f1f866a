// (being written)
import type { PageModule } from './index.js';

export const registerUnknownPages: PageModule = () => undefined;
