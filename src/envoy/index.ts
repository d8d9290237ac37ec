export { TypeUrl, typeUrlOf, messageNameOf } from "./type-urls.js";
export { encodeMessage, decodeMessage, pack, messageType } from "./encode.js";
export type { DecodeOptions } from "./encode.js";
export { envoyProtoRoot } from "./protos.js";
export type * from "./messages.js";
export { validateMessage } from "./pgv.js";
export type { PgvViolation } from "./pgv.js";
export { describeMessage } from "./describe.js";
export { protoJson } from "./json.js";
