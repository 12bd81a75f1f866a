// The one place that reads environment variables (STYLE.md: config is parsed once, at start).
// The configuration loader (config.ts) lays them over the configuration file; the commands that run
// without a configuration (doctor, service install, bench's database, the models folder's default)
// take them from here too, and nowhere else.

export interface Environment {
  /** FACEGATE_CONFIG: the configuration file. */
  configFile?: string;
  /** FACEGATE_DATA_DIR: the data root. */
  dataDir?: string;
  /** FACEGATE_MODELS_DIR: where the model files are (../shared/models in development and CI). */
  modelsDir?: string;
  /** DATABASE_URL: a PostgreSQL server; none means embedded PGlite. */
  databaseUrl?: string;
  /** REDIS_URL: none means health is kept in memory. */
  redisUrl?: string;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const pick = (name: string) => (env[name] && env[name].trim() !== '' ? env[name].trim() : undefined);
  const out: Environment = {};
  const entries: [keyof Environment, string][] = [
    ['configFile', 'FACEGATE_CONFIG'],
    ['dataDir', 'FACEGATE_DATA_DIR'],
    ['modelsDir', 'FACEGATE_MODELS_DIR'],
    ['databaseUrl', 'DATABASE_URL'],
    ['redisUrl', 'REDIS_URL'],
  ];
  for (const [key, name] of entries) {
    const value = pick(name);
    if (value !== undefined) out[key] = value;
  }
  return out;
}
