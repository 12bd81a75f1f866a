// Lint rules: ESLint's recommended set everywhere; typescript-eslint's type-aware recommended set
// on the TypeScript (plain .mjs fixtures run in child processes and have no project to check against).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Dependencies run one way (README, Layout): core/ <- storage/ <- src/, and inside src/ each folder
// imports only the folders below it. Every import here is relative, so a folder is refused by the
// specifier's first folder after its '../' steps. A folder's entry lists all it must not import, as
// a later entry replaces an earlier one's list for the same rule.
const upward = (from, folders, why) => ({
  regex: `^(\\.\\./)+(${folders.join('|')})/`,
  message: `${from} must not import from ${folders.join(', ')}: ${why} (README, Layout)`,
});
const below = (files, ...patterns) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});
const SRC_FOLDERS = [
  'access',
  'api',
  'bench',
  'camera',
  'cli',
  'config',
  'console',
  'models',
  'outputs',
  'pipeline',
  'recognition',
  'service',
  'unknown-faces',
  'vision',
];
const notFrom = (from, allowed) =>
  upward(
    from,
    SRC_FOLDERS.filter((folder) => !allowed.includes(folder)),
    'a folder above it',
  );
// Every src/ entry includes these. Above storage/, only its public surface is imported: the front
// door (index.ts), its top-level modules and the store interfaces; the rest is implementation, and
// what src/ needs of it is re-exported by storage/index.ts.
const STORAGE_PUBLIC = [
  '(index|checks|logger|errors|ids|redact|dates|config)',
  'db/(db-store|unknown-face-records)',
  'embeddings/embedding-store',
  'images/image-store',
  'cache/cache-store',
];
const srcWide = [
  upward('src/', ['scripts', 'test'], 'the program does not depend on its scripts or tests'),
  {
    regex: `^(\\.\\./)+storage/(?!(${STORAGE_PUBLIC.join('|')})\\.js$)`,
    message:
      'src/ imports storage/ only through its public surface: storage/index.js, its top-level modules and the store interfaces; export what else is needed from storage/index.ts (README, Layout)',
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', '.scratch/', 'var/', 'eslint.config.js'] },
  js.configs.recommended,
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  below(['core/**/*.ts'], upward('core/', ['src', 'storage', 'scripts', 'test'], 'it is the bottom layer')),
  below(['storage/**/*.ts'], upward('storage/', ['src', 'scripts', 'test'], 'storage sits below the program')),
  below(['src/**/*.ts'], ...srcWide),
  // models reads only config/environment.ts (a leaf) from config/ and nothing else in src/.
  // access is a leaf: pure rules over the configuration's doors, imported by config, pipeline and above.
  below(['src/access/**/*.ts'], ...srcWide, notFrom('src/access/', ['access'])),
  // outputs is a leaf too: the messages, outboxes and transports (MQTT, webhooks), imported by
  // config, pipeline and above.
  below(['src/outputs/**/*.ts'], ...srcWide, notFrom('src/outputs/', ['outputs'])),
  below(['src/models/**/*.ts'], ...srcWide, notFrom('src/models/', ['config', 'models']), {
    regex: '^(\\.\\./)+config/(?!environment\\.js$)',
    message: 'src/models/ imports only config/environment.js from config/ (README, Layout)',
  }),
  // vision reads only config/environment.ts (a leaf) from config/, which itself imports vision's types.
  below(['src/vision/**/*.ts'], ...srcWide, notFrom('src/vision/', ['config', 'models', 'vision']), {
    regex: '^(\\.\\./)+config/(?!environment\\.js$)',
    message: 'src/vision/ imports only config/environment.js from config/ (README, Layout)',
  }),
  below(['src/camera/**/*.ts'], ...srcWide, notFrom('src/camera/', ['camera', 'models', 'vision'])),
  below(['src/recognition/**/*.ts'], ...srcWide, notFrom('src/recognition/', ['recognition', 'models', 'vision'])),
  below(
    ['src/unknown-faces/**/*.ts'],
    ...srcWide,
    notFrom('src/unknown-faces/', ['unknown-faces', 'recognition', 'models', 'vision']),
  ),
  below(
    ['src/pipeline/**/*.ts'],
    ...srcWide,
    notFrom('src/pipeline/', [
      'access',
      'outputs',
      'pipeline',
      'camera',
      'models',
      'recognition',
      'unknown-faces',
      'vision',
    ]),
  ),
  below(
    ['src/config/**/*.ts'],
    ...srcWide,
    notFrom('src/config/', ['access', 'outputs', 'config', 'camera', 'models', 'pipeline', 'recognition', 'vision']),
  ),
  below(
    ['src/api/**/*.ts'],
    ...srcWide,
    notFrom('src/api/', ['access', 'outputs', 'api', 'models', 'pipeline', 'recognition', 'unknown-faces', 'vision']),
  ),
  // console: the web pages over the API's parts (its deps, errors, upload) and what the API uses.
  below(
    ['src/console/**/*.ts'],
    ...srcWide,
    notFrom('src/console/', [
      'console',
      'api',
      'access',
      'outputs',
      'models',
      'pipeline',
      'recognition',
      'unknown-faces',
      'vision',
    ]),
  ),
  below(
    ['src/service/**/*.ts'],
    ...srcWide,
    notFrom('src/service/', [
      'service',
      'console',
      'access',
      'outputs',
      'api',
      'camera',
      'config',
      'models',
      'pipeline',
      'recognition',
      'unknown-faces',
      'vision',
    ]),
  ),
  below(
    ['src/bench/**/*.ts'],
    ...srcWide,
    notFrom('src/bench/', [
      'access',
      'outputs',
      'bench',
      'api',
      'camera',
      'models',
      'pipeline',
      'recognition',
      'unknown-faces',
      'vision',
    ]),
  ),
);
