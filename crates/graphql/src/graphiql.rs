//! GraphiQL, served from the binary: a browser asking `GET /graphql` for
//! HTML gets the page, and the page loads its scripts and styles from
//! `/graphql/assets/`, never from a CDN. The assets are GraphiQL's UMD
//! build and React from the npm registry (`vendor-graphiql.sh`), kept
//! gzipped; the page has its own content security policy, which still
//! allows nothing from another origin.

use std::io::Read as _;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::problem;
use crate::transport::Graphql;

/// The vendored GraphiQL's version: it names the assets' URLs, so a
/// browser's year-long cache never serves an old one.
const VERSION: &str = "3.8.3";

/// Scripts and styles from this origin only; GraphiQL's editor injects
/// `<style>` elements (hence `'unsafe-inline'` for styles, not scripts)
/// and draws icons from `data:` URLs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

enum Body {
    Gzipped(&'static [u8]),
    Plain(&'static [u8]),
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/graphql/assets/`.
const ASSETS: [(&str, &str, Body); 5] = [
    (
        "graphiql.min.js",
        JS,
        Body::Gzipped(include_bytes!("../assets/graphiql.min.js.gz")),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        Body::Gzipped(include_bytes!("../assets/graphiql.min.css.gz")),
    ),
    (
        "react.production.min.js",
        JS,
        Body::Gzipped(include_bytes!("../assets/react.production.min.js.gz")),
    ),
    (
        "react-dom.production.min.js",
        JS,
        Body::Gzipped(include_bytes!("../assets/react-dom.production.min.js.gz")),
    ),
    (
        "graphiql-init.js",
        JS,
        Body::Plain(include_bytes!("../assets/graphiql-init.js")),
    ),
];

/// The page for the endpoint at `path` (checked at start to be letters,
/// digits, `/`, `-` and `_`, so it needs no escaping in HTML).
pub(crate) fn page(path: &str) -> String {
    include_str!("../assets/graphiql.html")
        .replace("{{ASSETS}}", &format!("{path}/assets"))
        .replace("{{ENDPOINT}}", path)
        .replace("{{VERSION}}", VERSION)
}

/// Whether a GET is a browser asking for the page rather than a query.
pub(crate) fn wants_page(req: &HttpRequest) -> bool {
    let has_query = req
        .query_string()
        .split('&')
        .any(|pair| pair.split('=').next().is_some_and(|name| name == "query"));
    let accepts_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    accepts_html && !has_query
}

/// The page, rendered once when the routes are built.
#[derive(Debug)]
pub(crate) struct Page(pub web::Bytes);

pub(crate) fn serve_page(page: &Page) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(page.0.clone())
}

/// `GET {path}/assets/{file}`.
pub(crate) async fn asset(
    req: HttpRequest,
    file: web::Path<String>,
    graphql: web::Data<Graphql>,
) -> HttpResponse {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, ..)| *name == file.as_str())
    else {
        return problem(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "No such GraphiQL asset.",
            (graphql.request_id)(),
        );
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::VARY, "Accept-Encoding"));
    match body {
        Body::Plain(bytes) => response.body(*bytes),
        Body::Gzipped(bytes) if accepts_gzip(&req) => response
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(*bytes),
        // A client without gzip (rare: every browser has it) gets it
        // inflated, off the executor: GraphiQL is 3.5 MB.
        Body::Gzipped(bytes) => {
            let inflated = web::block(move || {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(*bytes)
                    .read_to_end(&mut out)
                    .map(|_| out)
            })
            .await;
            match inflated {
                Ok(Ok(body)) => response.body(body),
                _ => problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "An internal error occurred.",
                    (graphql.request_id)(),
                ),
            }
        }
    }
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|coding| {
                let mut parts = coding.split(';').map(str::trim);
                let name = parts.next().unwrap_or_default();
                let refused = parts.any(|p| p.replace(' ', "") == "q=0");
                (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_this_origins_assets() {
        let page = page("/graphql");
        assert!(page.contains("src=\"/graphql/assets/graphiql.min.js?v=3.8.3\""));
        assert!(page.contains("data-endpoint=\"/graphql\""));
        assert!(!page.contains("http:") && !page.contains("https:") && !page.contains("//"));
        for (name, ..) in &ASSETS {
            assert!(
                page.contains(&format!("/graphql/assets/{name}?v=")),
                "{name}"
            );
        }
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let with = |value: &str| {
            accepts_gzip(
                &actix_web::test::TestRequest::default()
                    .insert_header((header::ACCEPT_ENCODING, value))
                    .to_http_request(),
            )
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0"));
        assert!(!accepts_gzip(
            &actix_web::test::TestRequest::default().to_http_request()
        ));
    }
}
