import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { Errors, RouterError } from './errors';

/**
 * Reads one line from stdin without echoing it on a terminal (the prompt goes to
 * stderr so stdout stays clean JSON). Piped input (`echo pw | gatehouse user add ...`)
 * is read as is.
 */
export function readSecret(prompt: string): Promise<string> {
  const tty = process.stdin.isTTY;
  process.stderr.write(prompt);
  // what readline echoes is swallowed: the typed secret never reaches the screen
  const silent = new Writable({
    write: (_chunk, _enc, done) => {
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: tty });
  return new Promise((resolve, reject) => {
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      if (tty) process.stderr.write('\n');
      rl.close();
      resolve(line);
    });
    rl.once('close', () => {
      if (!answered) reject(new RouterError(Errors.invalidArgument, 'no password given on stdin'));
    });
  });
}
