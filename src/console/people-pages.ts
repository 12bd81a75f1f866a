// (being written)
import type { PageModule } from './index.js';

export const registerPeoplePages: PageModule = () => undefined;
