//! `GET /api/v1/jobs/{id}/result`: a succeeded job's file, streamed from the
//! file store in fixed chunks, so memory stays constant whatever its size.

use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue,
};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::stream;
use strata_domain::files::FileKey;
use strata_service::JobService;
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ErrorChain, Problem};
use crate::extract::Authenticated;

/// Bytes read from the store per chunk sent.
const CHUNK: usize = 64 * 1024;

/// The rest of a download: the chunk in hand and where the next one starts.
struct Download {
    jobs: Arc<dyn JobService>,
    key: FileKey,
    /// Bytes sent or in hand so far.
    offset: u64,
    size: u64,
    pending: Option<Bytes>,
}

impl Download {
    /// The most the next read may ask for.
    fn next_len(&self) -> usize {
        usize::try_from(self.size.saturating_sub(self.offset)).map_or(CHUNK, |left| left.min(CHUNK))
    }

    /// Reads the next chunk. A file shorter than the size it was announced
    /// with is an error, because `Content-Length` promised more.
    async fn read(&mut self) -> Result<Bytes, ApiError> {
        let max = self.next_len();
        let mut bytes = self.jobs.read_result(&self.key, self.offset, max).await?;
        if bytes.is_empty() && max > 0 {
            return Err(ApiError::internal(format!(
                "result file {} ended at {} of {} bytes",
                self.key.as_str(),
                self.offset,
                self.size
            )));
        }
        bytes.truncate(max);
        self.offset += bytes.len() as u64;
        Ok(Bytes::from(bytes))
    }
}

async fn next_chunk(mut download: Download) -> Option<(Result<Bytes, ApiError>, Download)> {
    if let Some(chunk) = download.pending.take() {
        return Some((Ok(chunk), download));
    }
    if download.offset >= download.size {
        return None;
    }
    match download.read().await {
        Ok(chunk) => Some((Ok(chunk), download)),
        Err(err) => {
            // The status line is gone: all that is left is to cut the body
            // short, so the client sees an incomplete download.
            tracing::error!(error = %ErrorChain(&err), "result download aborted mid-stream");
            download.offset = download.size;
            Some((Err(err), download))
        }
    }
}

/// The file a succeeded job produced (an export), as a download.
///
/// Only the account that started the job may read it, admins included: an
/// export holds personal data meant for its requester.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The file, with `Content-Length` and `Content-Disposition: attachment`; its media type is the one the job recorded",
            headers(("Content-Disposition" = String), ("Content-Length" = u64)),
            content(("text/csv"), ("application/json"), ("application/octet-stream"))),
        (status = 404, description = "No such job, not the caller's, or it has no file (any more)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`CONFLICT`: the job has not succeeded (yet)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{id}/result")]
pub async fn download_result(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let file = state.jobs.result_file(&caller.0, id.into_inner()).await?;
    let mut download = Download {
        jobs: state.jobs.clone(),
        key: file.key,
        offset: 0,
        size: file.size,
        pending: None,
    };
    // The first chunk is read before answering, so a missing file or a
    // storage failure still gets its proper status instead of a cut 200.
    let first = download.read().await?;
    download.pending = Some(first);
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(file.filename)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(SizedStream::new(
            file.size,
            stream::unfold(download, next_chunk),
        )))
}
