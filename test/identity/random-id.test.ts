// Unit tests of src/random-id.ts: the UUIDs are RFC 4122 version 4 and do not repeat; the digest
// is stable, 16 hex digits, and tells different inputs apart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digest, randomUuid } from '../../src/identity/random-id.ts';

test('randomUuid: version 4, RFC 4122 variant, 10,000 distinct', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = randomUuid();
    assert.match(
      id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    );
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
});

test('digest: stable, 16 hex digits, different for different inputs', () => {
  assert.equal(digest('a\nb'), digest('a\nb'));
  assert.match(digest(''), /^[0-9a-f]{16}$/);
  const inputs = ['', 'a', 'b', 'ab', 'ba', '--import x', '--import y'];
  assert.equal(new Set(inputs.map(digest)).size, inputs.length);
});
