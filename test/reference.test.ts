import test from 'ava';
import { parseImageName, parseRegistryReference, formatReference, familiarName } from '../src/oci/reference.ts';
import { XbuildError } from '../src/errors.ts';

const D = 'sha256:' + 'a'.repeat(64);

const good: Array<[string, string]> = [
  ['debian', 'docker.io/library/debian:latest'],
  ['debian:bookworm', 'docker.io/library/debian:bookworm'],
  ['arm32v7/debian:bookworm', 'docker.io/arm32v7/debian:bookworm'],
  ['docker.io/debian', 'docker.io/library/debian:latest'],
  ['docker.io/library/debian:12', 'docker.io/library/debian:12'],
  ['index.docker.io/debian', 'docker.io/library/debian:latest'],
  ['registry-1.docker.io/arm64v8/ubuntu:22.04', 'docker.io/arm64v8/ubuntu:22.04'],
  ['docker://alpine:3.20', 'docker.io/library/alpine:3.20'],
  [`debian@${D}`, `docker.io/library/debian@${D}`],
  [`debian:bookworm@${D}`, `docker.io/library/debian:bookworm@${D}`],
  ['localhost/foo', 'localhost/foo:latest'],
  ['localhost:5000/foo/bar:v1', 'localhost:5000/foo/bar:v1'],
  ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
  ['[::1]:5000/x:t', '[::1]:5000/x:t'],
  ['registry.example.com/me/debian-xbuild:bookworm', 'registry.example.com/me/debian-xbuild:bookworm'],
  ['Registry.Example.com/me/app', 'Registry.Example.com/me/app:latest'],
  ['MYHOST/me/app', 'MYHOST/me/app:latest'],
  ['ghcr.io/a/b/c/d:1.2.3_x-y', 'ghcr.io/a/b/c/d:1.2.3_x-y'],
  ['foo/bar', 'docker.io/foo/bar:latest'],
  ['x/a__b.c-d---e', 'docker.io/x/a__b.c-d---e:latest'],
  [`host:5000/x@${D}`, `host:5000/x@${D}`],
  ['x:' + 'T'.repeat(128), 'docker.io/library/x:' + 'T'.repeat(128)],
];

for (const [input, want] of good) {
  test(`parses ${input.length > 60 ? input.slice(0, 60) + '...' : input}`, (t) => {
    const r = parseImageName(input);
    t.is(r.transport, 'registry');
    t.is(formatReference(r), want);
    t.deepEqual(parseImageName(formatReference(r)), r, 'format then parse is the identity');
  });
}

test('the parsed fields of a normalised name', (t) => {
  t.deepEqual(parseImageName('debian'), { transport: 'registry', registry: 'docker.io', repository: 'library/debian', tag: 'latest' });
  t.deepEqual(parseImageName(`localhost:5000/a/b@${D}`), { transport: 'registry', registry: 'localhost:5000', repository: 'a/b', digest: D });
  t.deepEqual(parseImageName(`a:t@${D}`), { transport: 'registry', registry: 'docker.io', repository: 'library/a', tag: 't', digest: D });
});

test('oci: and docker-archive: names (skopeo transport syntax)', (t) => {
  t.deepEqual(parseImageName('oci:/tmp/layout'), { transport: 'oci', dir: '/tmp/layout' });
  t.deepEqual(parseImageName('oci:out:v1.0'), { transport: 'oci', dir: 'out', tag: 'v1.0' });
  t.deepEqual(parseImageName('oci:./a b/c:latest'), { transport: 'oci', dir: './a b/c', tag: 'latest' });
  t.deepEqual(parseImageName('docker-archive:/tmp/img.tar'), { transport: 'docker-archive', file: '/tmp/img.tar' });
  t.deepEqual(parseImageName('docker-archive:img.tar:debian'), { transport: 'docker-archive', file: 'img.tar', ref: 'debian:latest' });
  t.deepEqual(parseImageName('docker-archive:img.tar:arm32v7/debian:bookworm'), { transport: 'docker-archive', file: 'img.tar', ref: 'arm32v7/debian:bookworm' });
  t.deepEqual(parseImageName('docker-archive:img.tar:localhost:5000/x:y'), { transport: 'docker-archive', file: 'img.tar', ref: 'localhost:5000/x:y' });
  t.is(formatReference({ transport: 'oci', dir: 'd', tag: 't' }), 'oci:d:t');
  t.is(formatReference({ transport: 'oci', dir: 'd' }), 'oci:d');
  t.is(formatReference({ transport: 'docker-archive', file: 'f.tar', ref: 'a:b' }), 'docker-archive:f.tar:a:b');
});

test('familiarName gives Docker\'s short form', (t) => {
  t.is(familiarName(parseRegistryReference('docker.io/library/debian:12')), 'debian:12');
  t.is(familiarName(parseRegistryReference('arm32v7/debian')), 'arm32v7/debian:latest');
  t.is(familiarName(parseRegistryReference('localhost:5000/library/x:1')), 'localhost:5000/library/x:1');
});

// [input, part of the message that names the offending piece]
const badNames: Array<[string, RegExp]> = [
  ['', /empty/],
  [' debian', /white space/],
  ['Debian', /"Debian" must be lower case/],
  ['docker.io/Library/debian', /"Library" must be lower case/],
  ['debian:', /tag after ":" is empty/],
  ['debian:-x', /tag "-x"/],
  ['debian:a/b', /registry port "a" in "debian:a"/],
  ['x:' + 'T'.repeat(129), /tag "T+" must match/],
  ['debian@sha256:abc', /digest "sha256:abc"/],
  ['debian@sha256:' + 'A'.repeat(64), /digest "sha256:A+"/],
  ['debian@sha512:' + 'a'.repeat(128), /algorithm "sha512"/],
  ['debian@', /digest ""/],
  ['foo//bar', /empty path component/],
  ['foo/', /empty path component/],
  ['/foo', /empty path component/],
  ['foo_-bar', /"foo_-bar" may only hold/],
  ['-foo', /"-foo"/],
  ['host:5000/', /repository name is empty/],
  ['localhost:99999/x', /port "99999"/],
  ['localhost:abc/x', /repository component "localhost"|port "abc"/],
  ['exa_mple.com/x', /host "exa_mple.com"/],
  ['-bad.com/x', /host "-bad.com"/],
  ['[::1/x', /unclosed/],
  ['oci:', /oci: directory is empty/],
  ['oci::tag', /oci: directory is empty/],
  ['oci:dir:', /oci: tag after ":" is empty/],
  ['oci:dir:bad tag', /oci: tag "bad tag"/],
  ['docker-archive:', /docker-archive: file is empty/],
  ['docker-archive:f.tar:', /reference after ":" is empty/],
  ['docker-archive:f.tar:UPPER', /"UPPER" must be lower case/],
  [`docker-archive:f.tar:x@${D}`, /cannot contain a digest/],
  ['containers-storage:foo', /transport "containers-storage:" is not supported/],
  ['a/' + 'b'.repeat(260), /longer than 255/],
];

for (const [input, msg] of badNames) {
  test(`rejects ${JSON.stringify(input.length > 50 ? input.slice(0, 50) + '...' : input)}`, (t) => {
    const err = t.throws(() => parseImageName(input), { instanceOf: XbuildError });
    t.is(err!.code, 'BAD_REFERENCE');
    t.regex(err!.message, msg);
    t.false(err!.message.includes('\n'), 'one line');
    t.truthy(err!.hint);
  });
}

test('parseRegistryReference refuses local transports', (t) => {
  const err = t.throws(() => parseRegistryReference('oci:dir'), { instanceOf: XbuildError });
  t.is(err!.code, 'BAD_REFERENCE');
  t.regex(err!.message, /expected a registry reference/);
});
