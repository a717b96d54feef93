import { mutationConfig } from './base.mjs';

export default mutationConfig('migration');
