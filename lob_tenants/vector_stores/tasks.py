import base64

from celery import shared_task

from .services import IngestionError, document_ingest, document_ingest_failed

MAX_RETRIES = 4


@shared_task(name="vector_stores.ingest_document", bind=True, ignore_result=True, max_retries=MAX_RETRIES)
def ingest_document(self, job_id: int, document_id: int, content_b64: str) -> None:
    try:
        document_ingest(job_id=job_id, document_id=document_id, content=base64.b64decode(content_b64))
    except IngestionError as exc:
        if exc.retryable and self.request.retries < MAX_RETRIES and not self.request.is_eager:
            raise self.retry(countdown=2 ** (self.request.retries + 1)) from exc
        document_ingest_failed(job_id=job_id, document_id=document_id, error=str(exc))
