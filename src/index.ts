// mfn: MobileFaceNet face embeddings for Node.js.
export { MAX_THREADS, createEmbedder } from "./embedder.js";
export type {
  BackendName,
  BatchStats,
  BatchItem,
  EmbedBatchOptions,
  EmbedOptions,
  Embedder,
  EmbedderOptions,
  IdentifiedFace,
  IdentifyOptions,
  PreprocessOptions,
  StageTimings,
  VerifyOptions,
  VerifyResult,
} from "./embedder.js";
export { MAX_PIXELS } from "./inputs.js";
export type { ImageInput, Landmarks, RawImage } from "./inputs.js";
export { DEFAULT_MIN_SCORE, MAX_FACES } from "./faces.js";
export type { DetectOptions, EmbedFacesOptions, Face, FaceWithEmbedding } from "./faces.js";
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
