/** Why a file could not be processed, in terms a user can act on; stored as `processingError.code`. */
export type ProcessingFailureCode =
  | 'EMPTY_FILE'
  | 'CORRUPT_FILE'
  | 'INVALID_CONTENT'
  | 'UNSUPPORTED_CONTENT'
  /** A container (DOCX, XLSX, ...) unpacks to more than the budget (ATTACHMENT_MAX_EXTRACTION_MB), or holds too many files. */
  | 'DECOMPRESSION_LIMIT'
  /** An image declares more pixels than ATTACHMENT_MAX_IMAGE_PIXELS; it is not decoded. */
  | 'IMAGE_TOO_LARGE';

/** A failure that retrying cannot fix (a damaged or hostile file); anything else is retried. */
export class ProcessingFailure extends Error {
  constructor(
    readonly code: ProcessingFailureCode,
    message: string,
  ) {
    super(message);
  }
}
