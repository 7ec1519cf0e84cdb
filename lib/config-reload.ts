import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from './config';
import { Errors, RouterError } from './errors';
import type { RouterCore } from './router';

/**
 * The daemon's SIGHUP (README "Reloading the configuration"): reads the config file
 * again and hands it to router.reload(). A file that cannot be read, is not JSON or
 * breaks the schema changes nothing: the problems are logged at error level and
 * counted (gatehouse_config_reloads_total{result="invalid"}); the TLS certificates are
 * still re-read, so a renewal hook's SIGHUP is never lost to an unrelated typo.
 * Returns whether the new config was applied.
 */
export function reloadConfigFile(router: RouterCore, load: () => Config, file: string | undefined): boolean {
  const log = router.log;
  let next: Config;
  try {
    next = load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    router.metrics.configReloads.labels('invalid').inc();
    log.error({ file, problems: err.problems }, `config reload refused, nothing changed: ${err.message}`);
    log.info(router.reloadCertificates(), 'SIGHUP: TLS certificates reloaded');
    return false;
  }
  const { certificates, ...outcome } = router.reload(next);
  log.info({ file, ...outcome }, 'configuration reloaded');
  log.info(certificates, 'SIGHUP: TLS certificates reloaded');
  if (outcome.restartNeeded.length > 0) {
    log.warn({ sections: outcome.restartNeeded }, 'config reload: these sections changed but apply only after a restart');
  }
  return true;
}

/** `gatehouse reload --pid-file F`: the daemon's process ID, as its --pid-file wrote it. */
export function readPidFile(file: string): number {
  const text = readFileSync(file, 'utf8').trim();
  const pid = Number(text);
  if (!Number.isSafeInteger(pid) || pid <= 0)
    throw new RouterError(Errors.invalidArgument, `${file} does not hold a process ID: ${JSON.stringify(text.slice(0, 40))}`);
  return pid;
}
