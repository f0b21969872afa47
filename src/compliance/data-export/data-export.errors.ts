import { HttpStatus } from '@nestjs/common';
import { AppException, ConflictStateException, ResourceNotFoundException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';

export class DataExportNotFoundException extends ResourceNotFoundException {
  constructor() {
    super(ErrorCode.DATA_EXPORT_NOT_FOUND, 'Data export not found');
  }
}

export class DataExportInProgressException extends ConflictStateException {
  constructor(
    active: { exportId: string | null; status: string },
    message = 'An export of this user’s data is already queued or running; one export per user at a time',
  ) {
    super(ErrorCode.DATA_EXPORT_IN_PROGRESS, message, active);
  }
}

export class ErasureInProgressException extends ConflictStateException {
  constructor() {
    super(
      ErrorCode.ERASURE_IN_PROGRESS,
      'This user’s data is being erased or anonymised; an export can be requested once that has finished',
    );
  }
}

export class DataExportNotReadyException extends ConflictStateException {
  constructor(status: string) {
    super(
      ErrorCode.DATA_EXPORT_NOT_READY,
      status === 'failed' ? 'This data export failed; request a new one' : 'This data export is not ready yet; poll its status',
      { status },
    );
  }
}

export class DataExportExpiredException extends AppException {
  constructor(message = 'This data export has expired; request a new one') {
    super(HttpStatus.GONE, ErrorCode.DATA_EXPORT_EXPIRED, message);
  }
}
