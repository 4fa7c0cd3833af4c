// Using the TypeScript SDK generated from docs/openapi.json by @hey-api/openapi-ts (see docs/sdk.md).
import {
  addObjects, addParticipant, getCollections, getDiscovery, getObjects, getStatus, issueKey,
} from './aisx';
import type { GetObjectsData, StixObject } from './aisx';
import { type Client, createClient } from './aisx/client';

export const TAXII = 'application/taxii+json;version=2.1';
const TLP_GREEN = 'marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb';
const API_ROOT = 'exchange';

/** A client that sends the key as a Bearer token. Every operation lists both schemes, so answer for one only. */
export function bearerClient(baseUrl: string, secret: string): Client {
  return createClient({
    baseUrl,
    headers: { Accept: TAXII },
    auth: (auth) => (auth.scheme === 'bearer' ? secret : undefined),
  });
}

/** The same with HTTP Basic: the key id is the user name, the secret the password. */
export function basicClient(baseUrl: string, keyId: string, secret: string): Client {
  return createClient({
    baseUrl,
    headers: { Accept: TAXII },
    auth: (auth) => (auth.scheme === 'basic' ? `${keyId}:${secret}` : undefined),
  });
}

type Filters = Omit<NonNullable<GetObjectsData['query']>, 'next'>;

/** Every object matching `filters`, page by page: while `more`, ask again with the same filters and `next`. */
export async function readAll(
  client: Client, collectionId: string, filters: Filters,
): Promise<{ objects: StixObject[]; pages: number }> {
  const objects: StixObject[] = [];
  let next: string | undefined;
  let pages = 0;
  do {
    const { data, error } = await getObjects({
      client, path: { api_root: API_ROOT, collection_id: collectionId }, query: { ...filters, next },
    });
    if (error) throw new Error(`${error.http_status} ${error.title}: ${error.description}`);
    pages += 1;
    objects.push(...(data.objects ?? []));
    next = data.more ? data.next : undefined;
  } while (next);
  return { objects, pages };
}

function indicator(name: string): StixObject {
  const now = new Date().toISOString();
  return {
    type: 'indicator', spec_version: '2.1', id: `indicator--${crypto.randomUUID()}`, created: now, modified: now,
    name, pattern: "[url:value = 'https://evil.example/inject']", pattern_type: 'stix', valid_from: now,
    object_marking_refs: [TLP_GREEN],
  };
}

/** The main flows against a live exchange; what happened, as JSON. */
export async function main(baseUrl: string, adminSecret: string): Promise<Record<string, unknown>> {
  // as an operator: admit a participant and issue it a key
  const operator = bearerClient(baseUrl, adminSecret);
  const admitted = await addParticipant({
    client: operator, body: { slug: 'ts-lab', name: 'TypeScript Lab', kind: 'lab', groups: ['ts-testers'] },
    throwOnError: true,
  });
  const key = (await issueKey({
    client: operator, path: { slug: admitted.data.slug }, body: { label: 'ts' }, throwOnError: true,
  })).data;

  // as that participant
  const lab = bearerClient(baseUrl, key.secret);
  const discovery = (await getDiscovery({ client: lab, throwOnError: true })).data;
  const collections = (await getCollections({ client: lab, path: { api_root: API_ROOT }, throwOnError: true })).data;
  const shared = collections.collections?.find((c) => c.alias === 'shared');
  if (!shared) throw new Error('no shared collection');

  const posted = [indicator('one'), indicator('two'), indicator('three')];
  const added = await addObjects({
    client: lab, path: { api_root: API_ROOT, collection_id: shared.id }, body: { objects: posted },
  });
  if (added.error) throw new Error(`${added.error.http_status}: ${added.error.description}`);
  const status = (await getStatus({
    client: lab, path: { api_root: API_ROOT, status_id: added.data.id }, throwOnError: true,
  })).data;

  const basic = basicClient(baseUrl, key.key_id, key.secret);
  const read = await readAll(basic, shared.id, { 'match[id]': posted.map((o) => o.id).join(','), limit: 2 });

  const denied = await getCollections({ client: bearerClient(baseUrl, 'aisx_s_wrong'), path: { api_root: API_ROOT } });
  return {
    participant: admitted.data.slug, keyId: key.key_id, apiRoots: discovery.api_roots ?? [],
    contentType: added.response.headers.get('content-type'), status: status.status,
    successCount: status.success_count, pages: read.pages, read: read.objects.map((o) => o.id).sort(),
    posted: posted.map((o) => o.id).sort(),
    deniedStatus: denied.response.status, deniedError: denied.error?.http_status,
  };
}
