// Type checks of the documents xbuild parses (image config, descriptors,
// platforms, docker-archive manifest.json): every field xbuild reads or
// copies is checked for its JSON type once, where the document is parsed, so
// a wrongly typed field is one INVALID_IMAGE line and never a crash later.
import { XbuildError } from '../errors.ts';

export function invalidDoc(what: string, msg: string): XbuildError {
  return new XbuildError('INVALID_IMAGE', `${what}: ${msg}`);
}

/** JSON type name for messages ("number", "array", "null" ...). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function want(ok: boolean, what: string, field: string, expected: string, v: unknown): void {
  if (!ok) throw invalidDoc(what, `${field} is ${jsonType(v)}, expected ${expected}`);
}

/** `field` of `obj`, when present, is a string. */
export function optString(obj: Record<string, unknown>, field: string, what: string, path = field): void {
  const v = obj[field];
  if (v !== undefined) want(typeof v === 'string', what, path, 'a string', v);
}

/** `field`, when present (null allowed where Docker writes null), is an array of strings. */
export function optStringArray(obj: Record<string, unknown>, field: string, what: string, path = field, nullable = true): void {
  const v = obj[field];
  if (v === undefined || (nullable && v === null)) return;
  want(Array.isArray(v), what, path, 'an array of strings', v);
  (v as unknown[]).forEach((s, i) => want(typeof s === 'string', what, `${path}[${i}]`, 'a string', s));
}

/** `field`, when present, is an object whose values are all strings (annotations, Labels). */
export function optStringMap(obj: Record<string, unknown>, field: string, what: string, path = field, nullable = false): void {
  const v = obj[field];
  if (v === undefined || (nullable && v === null)) return;
  want(isObject(v), what, path, 'an object of strings', v);
  for (const [k, s] of Object.entries(v as Record<string, unknown>)) want(typeof s === 'string', what, `${path}["${k}"]`, 'a string', s);
}

/** A platform object (index entry `platform`). */
export function checkPlatformObject(v: unknown, what: string, path = 'platform'): void {
  want(isObject(v), what, path, 'an object', v);
  const p = v as Record<string, unknown>;
  want(typeof p.os === 'string', what, `${path}.os`, 'a string', p.os);
  want(typeof p.architecture === 'string', what, `${path}.architecture`, 'a string', p.architecture);
  optString(p, 'variant', what, `${path}.variant`);
  optString(p, 'os.version', what, `${path}.os.version`);
  optStringArray(p, 'os.features', what, `${path}.os.features`, false);
}

/** The parts of an image config xbuild reads or copies into the wrapped config. */
export function checkConfigTypes(doc: Record<string, unknown>, what: string): void {
  for (const f of ['architecture', 'os']) want(typeof doc[f] === 'string', what, f, 'a string', doc[f]);
  for (const f of ['variant', 'os.version', 'created', 'author']) optString(doc, f, what);
  if (doc.config !== undefined && doc.config !== null) {
    want(isObject(doc.config), what, 'config', 'an object', doc.config);
    const c = doc.config as Record<string, unknown>;
    optStringMap(c, 'Labels', what, 'config.Labels', true);
    for (const f of ['Env', 'Entrypoint', 'Cmd']) optStringArray(c, f, what, `config.${f}`);
    for (const f of ['User', 'WorkingDir']) optString(c, f, what, `config.${f}`);
  }
  if (doc.history !== undefined && doc.history !== null) {
    want(Array.isArray(doc.history), what, 'history', 'an array', doc.history);
    (doc.history as unknown[]).forEach((h, i) => {
      want(isObject(h), what, `history[${i}]`, 'an object', h);
      const e = h as Record<string, unknown>;
      for (const f of ['created', 'created_by', 'author', 'comment']) optString(e, f, what, `history[${i}].${f}`);
      if (e.empty_layer !== undefined) want(typeof e.empty_layer === 'boolean', what, `history[${i}].empty_layer`, 'a boolean', e.empty_layer);
    });
  }
}

export interface ArchiveManifestEntry { Config: string; RepoTags?: string[] | null; Layers: string[] }

/** docker-archive manifest.json: a non-empty array of {Config, RepoTags?, Layers}. */
export function parseArchiveManifest(raw: Buffer, what: string): ArchiveManifestEntry[] {
  let v: unknown;
  try { v = JSON.parse(raw.toString('utf8')); } catch { throw invalidDoc(what, 'not valid JSON'); }
  want(Array.isArray(v), what, 'the document', 'an array', v);
  const entries = v as unknown[];
  if (entries.length === 0) throw invalidDoc(what, 'lists no image');
  entries.forEach((e, i) => {
    want(isObject(e), what, `[${i}]`, 'an object', e);
    const o = e as Record<string, unknown>;
    want(typeof o.Config === 'string', what, `[${i}].Config`, 'a string', o.Config);
    want(Array.isArray(o.Layers), what, `[${i}].Layers`, 'an array of strings', o.Layers);
    optStringArray(o, 'Layers', what, `[${i}].Layers`);
    optStringArray(o, 'RepoTags', what, `[${i}].RepoTags`);
  });
  return entries as ArchiveManifestEntry[];
}
