/**
 * Micro benchmark for the pure codecs: topic notation (MQTT <-> canonical), the STOMP
 * frame parser and the WAMP RawSocket frame decoder fed in tiny chunks. These used to be
 * timed assertions in unit tests; timing belongs here, where a noisy machine only makes
 * a number worse instead of failing CI.
 *
 * Run: npx tsx bench/codec-speed.ts [rounds]   (best of `rounds`, default 5)
 */
import { performance } from 'node:perf_hooks';
import { canonicalToMqtt, mqttTopicToCanonical } from '../lib/notation';
import { parsePattern } from '../lib/topic';
import { StompFrameParser } from '../lib/stomp/frame-parser';
import { encodeFrame as encodeStompFrame } from '../lib/stomp/frame-writer';
import { encodeFrame, FrameDecoder, FrameType } from '../gates/wamp/rawsocket-framing';

const ROUNDS = Number(process.argv[2] ?? 5);

/** best wall time in ms of `rounds` runs of `run` */
function best(run: () => void): number {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    run();
    min = Math.min(min, performance.now() - started);
  }
  return min;
}

function notation(): void {
  const names = Array.from({ length: 100 }, (_, i) => `sensors/room${i}/temperature`);
  const canonicals = names.map((n) => n.replace(/\//g, '.'));
  for (const c of canonicals) parsePattern(c, 'exact');
  let sink = 0;
  const inbound = best(() => {
    for (let i = 0; i < 1_000_000; i++) sink += mqttTopicToCanonical(names[i % 100] ?? '')?.length ?? 0;
  });
  const outbound = best(() => {
    for (let i = 0; i < 1_000_000; i++) sink += canonicalToMqtt(canonicals[i % 100] ?? '')?.length ?? 0;
  });
  if (sink === 0) throw new Error('nothing converted');
  console.log(`notation: 1M mqttTopicToCanonical ${inbound.toFixed(0)} ms; 1M canonicalToMqtt ${outbound.toFixed(0)} ms`);
}

function stompParser(): void {
  const one = encodeStompFrame(
    {
      command: 'SEND',
      headers: [
        ['destination', '/topic/sensors.temperature'],
        ['content-type', 'application/octet-stream'],
        ['receipt', 'r-1234'],
      ],
      body: Buffer.alloc(64, 0x61),
    },
    '1.2',
  );
  const count = 200_000;
  const stream = Buffer.concat(Array.from({ length: count }, () => one));
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += 65536) chunks.push(stream.subarray(i, i + 65536));
  const limits = { maxHeaders: 1000, maxHeaderLineBytes: 1 << 16, maxBodyBytes: 1 << 24 };
  let seen = 0;
  const ms = best(() => {
    seen = 0;
    const parser = new StompFrameParser(limits, {
      onFrame: () => void seen++,
      onHeartbeat: () => undefined,
      onError: (e) => {
        throw new Error(String(e));
      },
    });
    for (const c of chunks) parser.push(c);
  });
  if (seen !== count) throw new Error(`parsed ${seen} of ${count}`);
  const rate = Math.round(count / (ms / 1000));
  console.log(`stomp parser: ${rate} SEND frames/s (${one.length} octets each, 64 KiB chunks)`);
}

function rawSocketSmallChunks(): void {
  const big = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const bytes = Buffer.concat(encodeFrame(FrameType.MESSAGE, big));
  let frames = 0;
  const ms = best(() => {
    const decoder = new FrameDecoder(big.length, { onFrame: () => void frames++, onError: (r) => console.error(r) });
    for (let i = 0; i < 4; i++) decoder.push(bytes.subarray(i, i + 1));
    for (let i = 4; i < bytes.length; i += 7) decoder.push(bytes.subarray(i, i + 7));
  });
  if (frames !== ROUNDS) throw new Error(`decoded ${frames} frames in ${ROUNDS} rounds`);
  console.log(`rawsocket: a 4 MiB frame in 7-octet chunks (~600k pushes) reassembled in ${ms.toFixed(0)} ms`);
}

notation();
stompParser();
rawSocketSmallChunks();
