// mfn: MobileFaceNet face embeddings for Node.js.
export { createEmbedder } from "./embedder.js";
export type {
  BackendName,
  BatchItem,
  EmbedBatchOptions,
  EmbedOptions,
  Embedder,
  EmbedderOptions,
  PreprocessOptions,
  StageTimings,
  VerifyOptions,
  VerifyResult,
} from "./embedder.js";
export type { ImageInput, Landmarks, RawImage } from "./inputs.js";
export { createGallery, loadGallery } from "./gallery.js";
export type {
  Embedding,
  Gallery,
  GalleryMatch,
  GalleryOptions,
  GalleryPrecision,
  GallerySearchOptions,
  LoadGalleryOptions,
} from "./gallery.js";
export { MfnError, MFN_ERROR_CODES } from "./errors.js";
export type { MfnErrorCode } from "./errors.js";
export { DEFAULT_VERIFY_THRESHOLD } from "./calibration.js";
