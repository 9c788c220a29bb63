//! `GET /api/v1/users/export`: every account as CSV or JSON, streamed in
//! keyset batches so memory stays constant however many accounts there are.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::stream;
use serde::Deserialize;
use strata_domain::auth::Principal;
use strata_domain::users::User;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::UserResponse;
use crate::AppState;
use crate::error::{ApiError, ErrorChain, Problem};
use crate::extract::Authenticated;

/// Accounts fetched and encoded per chunk: large enough to amortise the
/// query, small enough that a chunk is a few hundred kilobytes.
const BATCH: u64 = 500;
const CSV_HEADER: &str = "id,email,username,full_name,role,is_active,created_at,updated_at\r\n";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Csv,
    Json,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `json`.
    pub format: Option<ExportFormat>,
}

/// Appends one RFC 4180 field. Cells a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@`, tab, CR first) get a leading `'`, the OWASP advice
/// against CSV injection; such values cannot occur in e-mails, usernames,
/// roles or timestamps, only in free-text full names.
fn push_csv_field(out: &mut String, value: &str) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = guarded || value.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

fn csv_rows(users: &[User]) -> Bytes {
    let mut out = String::with_capacity(users.len() * 160);
    for user in users {
        let dto = UserResponse::from(user);
        let fields = [
            dto.id.to_string(),
            dto.email,
            dto.username,
            dto.full_name.unwrap_or_default(),
            user.role.as_str().to_owned(),
            dto.is_active.to_string(),
            dto.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            dto.updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ];
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_field(&mut out, field);
        }
        out.push_str("\r\n");
    }
    Bytes::from(out)
}

/// JSON array elements; `first` says whether this batch opens the array.
fn json_rows(users: &[User], first: bool) -> Result<Bytes, serde_json::Error> {
    let mut out = Vec::with_capacity(users.len() * 220);
    for (i, user) in users.iter().enumerate() {
        if !(first && i == 0) {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &UserResponse::from(user))?;
    }
    Ok(Bytes::from(out))
}

enum Step {
    /// The batch in hand, whether it is the first, and where the next starts.
    Batch {
        users: Vec<User>,
        first: bool,
    },
    Close,
    Done,
}

struct Export {
    state: web::Data<AppState>,
    caller: Principal,
    format: ExportFormat,
    step: Step,
}

async fn next_chunk(mut job: Export) -> Option<(Result<Bytes, actix_web::Error>, Export)> {
    match std::mem::replace(&mut job.step, Step::Done) {
        Step::Done => None,
        Step::Close => {
            let tail = match job.format {
                ExportFormat::Json => Bytes::from_static(b"]"),
                ExportFormat::Csv => Bytes::new(),
            };
            Some((Ok(tail), job))
        }
        Step::Batch { users, first } => {
            let last = users.last().map(|u| u.id);
            let full = users.len() as u64 == BATCH;
            // Encoding a batch is CPU work: it runs on the blocking pool, and
            // meanwhile the next batch is fetched.
            let format = job.format;
            let encoded = actix_web::web::block(move || match format {
                ExportFormat::Csv => Ok(csv_rows(&users)),
                ExportFormat::Json => json_rows(&users, first).map_err(ApiError::internal),
            });
            job.step = match (last, full) {
                (Some(after), true) => match job
                    .state
                    .users
                    .export_batch(&job.caller, Some(after), BATCH)
                    .await
                {
                    Ok(next) if next.is_empty() => Step::Close,
                    Ok(next) => Step::Batch {
                        users: next,
                        first: false,
                    },
                    Err(err) => {
                        // The status line is gone; all that is left is to cut the
                        // body short so the client sees an incomplete download.
                        let err = ApiError::from(err);
                        tracing::error!(error = %ErrorChain(&err), "export aborted mid-stream");
                        return Some((Err(err.into()), job));
                    }
                },
                _ => Step::Close,
            };
            let chunk = match encoded.await {
                Ok(result) => result.map_err(Into::into),
                Err(blocking) => Err(ApiError::internal(blocking).into()),
            };
            Some((chunk, job))
        }
    }
}

/// Every account as a CSV or JSON download, streamed. Admins only.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "A chunked download with `Content-Disposition: attachment`",
            content(("text/csv"), (Vec<UserResponse> = "application/json"))),
        (status = 400, description = "Unknown `format`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/export")]
pub async fn export(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.format.unwrap_or_default();
    // The first batch is read before answering, so a refusal or a storage
    // failure still gets its proper status instead of a truncated 200.
    let first = state
        .users
        .export_batch(&caller.0, None::<Uuid>, BATCH)
        .await?;
    let (content_type, filename, head) = match format {
        ExportFormat::Csv => (
            "text/csv; charset=utf-8",
            "users.csv",
            Bytes::from_static(CSV_HEADER.as_bytes()),
        ),
        ExportFormat::Json => ("application/json", "users.json", Bytes::from_static(b"[")),
    };
    let job = Export {
        state,
        caller: caller.0,
        format,
        step: if first.is_empty() {
            Step::Close
        } else {
            Step::Batch {
                users: first,
                first: true,
            }
        },
    };
    let body = futures_util::StreamExt::chain(
        stream::once(async move { Ok::<_, actix_web::Error>(head) }),
        stream::unfold(job, next_chunk),
    );
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename.to_owned())],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(value: &str) -> String {
        let mut out = String::new();
        push_csv_field(&mut out, value);
        out
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed_and_quotes_are_doubled() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formula_like_cells_are_neutralised() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "\"'+1\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
    }
}
