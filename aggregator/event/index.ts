// Wire-v1 event: the types and the edge parser, imported together by the consumer and the harness.

export * from './types.ts';
export * from './parse.ts';
