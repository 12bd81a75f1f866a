// (being written)
import type { PageModule } from './index.js';

export const registerCameraPages: PageModule = () => undefined;
