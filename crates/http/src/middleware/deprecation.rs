//! Announcing a deprecated route or scope (the versioning policy in
//! docs/api.md): `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link`
//! to the migration notes on every answer of what it wraps, errors included.

use actix_web::middleware::DefaultHeaders;
use chrono::{DateTime, Utc};

/// The headers that announce a deprecation, as actix's own `DefaultHeaders`
/// layer: `.wrap(deprecated(since, sunset, notes))` on the resource or scope
/// that the policy marks as deprecated. `since` is when it was deprecated
/// (it may be in the future: an announcement), `sunset` when it may stop
/// answering (`None`: not decided), `notes` the absolute URL of what to use
/// instead.
pub fn deprecated(
    since: DateTime<Utc>,
    sunset: Option<DateTime<Utc>>,
    notes: &str,
) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        // RFC 9745 §2.1: a Structured Field Date, seconds since the epoch.
        .add(("Deprecation", format!("@{}", since.timestamp())))
        .add(("Link", format!("<{notes}>; rel=\"deprecation\"")));
    match sunset {
        // RFC 8594 §3: an HTTP-date (IMF-fixdate).
        Some(at) => headers.add(("Sunset", at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())),
        None => headers,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, test, web};
    use chrono::TimeZone;

    use super::*;

    fn header(response: &actix_web::dev::ServiceResponse, name: &str) -> Option<String> {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[actix_web::test]
    async fn every_answer_of_a_deprecated_route_says_so_errors_included() {
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let sunset = Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap();
        let app = test::init_service(
            App::new()
                .wrap(deprecated(since, Some(sunset), "https://example.com/v2"))
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(actix_web::error::ErrorNotFound("gone"))
                })),
        )
        .await;
        let old = test::call_service(&app, test::TestRequest::get().uri("/old").to_request()).await;
        assert_eq!(old.status(), 404);
        assert_eq!(header(&old, "deprecation").as_deref(), Some("@1796083200"));
        assert_eq!(
            header(&old, "sunset").as_deref(),
            Some("Tue, 01 Jun 2027 00:00:00 GMT")
        );
        assert_eq!(
            header(&old, "link").as_deref(),
            Some("<https://example.com/v2>; rel=\"deprecation\"")
        );
    }

    #[actix_web::test]
    async fn an_undecided_sunset_is_left_out() {
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let app = test::init_service(
            App::new()
                .wrap(deprecated(since, None, "https://example.com/v2"))
                .default_service(web::to(HttpResponse::Ok)),
        )
        .await;
        let old = test::call_service(&app, test::TestRequest::get().uri("/old").to_request()).await;
        assert_eq!(old.status(), 200);
        assert!(header(&old, "deprecation").is_some());
        assert!(header(&old, "sunset").is_none());
    }
}
