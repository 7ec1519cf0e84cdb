// Dealer: a call whose outcome goes to a topic (CallOptions.outlivesCaller, MQTT `$rpc/`
// with a response topic, issue 15) is not canceled when its caller's session ends; other
// calls of that session are. It still ends at its callee's answer, its callee leaving, or
// its timeout, and then nothing of the gone caller stays behind.
import assert from 'node:assert/strict';
import test from 'node:test';
import { Dealer } from '../../lib/dealer';
import type { CallFailure } from '../../lib/errors';
import type { Invocation } from '../../lib/invocation';
import type { Payload } from '../../lib/payload';
import { Session } from '../../lib/session';

const session = (): Session =>
  new Session(
    { gate: 'mqtt', type: 'tcp', peer: '127.0.0.1:1' },
    { authid: 'a', authrole: 'anonymous', authmethod: 'anonymous', authprovider: 'static' },
    { close: () => undefined },
  );

function setup(timeoutMs = 0): { dealer: Dealer; callee: Session; invoked: Invocation[]; interrupted: Invocation[] } {
  const dealer = new Dealer({ maxRegistrationsPerSession: 10, maxPendingCallsPerSession: 10, defaultCallTimeoutMs: timeoutMs });
  const callee = session();
  const invoked: Invocation[] = [];
  const interrupted: Invocation[] = [];
  dealer.register(
    callee,
    'com.example.p',
    {},
    {
      invoke: (inv) => invoked.push(inv),
      interrupt: (inv) => interrupted.push(inv),
      invokeProgress: () => undefined,
    },
  );
  return { dealer, callee, invoked, interrupted };
}

interface Sink {
  results: Payload[];
  errors: CallFailure[];
  /** resolves with the first error */
  failed: Promise<CallFailure>;
  result(p: Payload, progress: boolean): void;
  error(f: CallFailure): void;
}

function sink(): Sink {
  let failed!: (f: CallFailure) => void;
  const s: Sink = {
    results: [],
    errors: [],
    failed: new Promise<CallFailure>((r) => (failed = r)),
    result: (p) => void s.results.push(p),
    error: (f) => {
      s.errors.push(f);
      failed(f);
    },
  };
  return s;
}

/** Callers the dealer still lists (private: read here to prove nothing leaks). */
function listedCallers(dealer: Dealer): number {
  return (dealer as unknown as { pendingByCaller: Map<Session, unknown> }).pendingByCaller.size;
}

/** The realm marks a leaving session closed, then tells the dealer. */
function leave(dealer: Dealer, s: Session): void {
  s.closed = true;
  dealer.removeSession(s);
}

test('dealer - the caller leaves: its ordinary call is canceled, its outliving call is answered, and the caller is forgotten', () => {
  const { dealer, invoked, interrupted } = setup();
  const caller = session();
  const ordinary = sink();
  const outliving = sink();
  dealer.call(caller, 'com.example.p', { args: [1] }, {}, ordinary);
  dealer.call(caller, 'com.example.p', { args: [2] }, { outlivesCaller: true }, outliving);
  assert.equal(invoked.length, 2);
  leave(dealer, caller);
  assert.equal(ordinary.errors.length, 1, 'the ordinary call is canceled');
  assert.deepEqual(interrupted, [invoked[0]], 'only the ordinary call is interrupted');
  assert.equal(outliving.errors.length, 0, 'the outliving call runs on');
  assert.equal(listedCallers(dealer), 1);
  const second = invoked[1];
  assert.ok(second);
  dealer.yield(second, { args: ['done'] }, false);
  assert.deepEqual(outliving.results, [{ args: ['done'] }]);
  assert.equal(listedCallers(dealer), 0, 'nothing of the gone caller stays');
});

test('dealer - an outliving call of a gone caller fails when its callee leaves', () => {
  const { dealer, callee } = setup();
  const caller = session();
  const outliving = sink();
  dealer.call(caller, 'com.example.p', {}, { outlivesCaller: true }, outliving);
  leave(dealer, caller);
  leave(dealer, callee);
  assert.equal(outliving.errors.length, 1);
  assert.equal(outliving.errors[0]?.uri, 'wamp.error.canceled');
  assert.equal(listedCallers(dealer), 0);
});

test('dealer - an outliving call of a gone caller still ends at its timeout', async () => {
  const { dealer } = setup();
  const caller = session();
  const outliving = sink();
  dealer.call(caller, 'com.example.p', {}, { outlivesCaller: true, timeoutMs: 30 }, outliving);
  leave(dealer, caller);
  await outliving.failed;
  assert.equal(outliving.errors[0]?.uri, 'wamp.error.timeout');
  assert.equal(listedCallers(dealer), 0);
});
