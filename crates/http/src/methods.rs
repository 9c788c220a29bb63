//! What the router cannot say by itself: a known path asked with a method it
//! does not serve is 405 `METHOD_NOT_ALLOWED` with an `Allow` header
//! (RFC 9110 §15.5.6), not the 404 of an unknown path.
//!
//! actix tries each route in turn and falls through to the default service
//! when none matches, without telling it why. The table of which methods
//! each path serves is therefore read from the OpenAPI document, which is
//! generated from the same route registrations, so the two cannot drift.

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// The route pattern a 405 was answered for, so the metrics count it under
/// that pattern like any routed request.
#[derive(Debug, Clone)]
pub struct AllowedRoute(pub String);

/// Every served path pattern with the methods it answers.
#[derive(Debug, Default)]
pub struct KnownPaths(Vec<(ResourceDef, Vec<Method>)>);

impl KnownPaths {
    /// The operations of `api`, plus routes kept out of the document (`extra`).
    pub fn new(api: &OpenApi, extra: &[(&str, &[Method])]) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<Method>)> = api
            .paths
            .paths
            .iter()
            .map(|(pattern, item)| {
                let methods = [
                    (Method::GET, &item.get),
                    (Method::HEAD, &item.head),
                    (Method::POST, &item.post),
                    (Method::PUT, &item.put),
                    (Method::PATCH, &item.patch),
                    (Method::DELETE, &item.delete),
                    (Method::OPTIONS, &item.options),
                    (Method::TRACE, &item.trace),
                ]
                .into_iter()
                .filter_map(|(method, op)| op.as_ref().map(|_| method))
                .collect();
                (ResourceDef::new(pattern.as_str()), methods)
            })
            .collect();
        routes.extend(
            extra
                .iter()
                .map(|(pattern, methods)| (ResourceDef::new(*pattern), methods.to_vec())),
        );
        Self(routes)
    }

    /// The pattern that is exactly `path` and its methods; else the first
    /// pattern matching `path` and every method any matching pattern serves;
    /// `None` for an unknown path.
    pub fn allowed(&self, path: &str) -> Option<(&str, Vec<Method>)> {
        // A literal route owns its path: `/users/stats` is not `/users/{id}`.
        if let Some((def, methods)) = self.exact(path) {
            return Some((def.pattern().unwrap_or_default(), methods.clone()));
        }
        let mut matching = self.0.iter().filter(|(def, _)| def.is_match(path));
        let (first, methods) = matching.next()?;
        let mut methods = methods.clone();
        for (_, more) in matching {
            for method in more {
                if !methods.contains(method) {
                    methods.push(method.clone());
                }
            }
        }
        Some((first.pattern().unwrap_or_default(), methods))
    }
}

impl KnownPaths {
    /// The `Allow` value of a route whose pattern is exactly `path` (no
    /// parameters), if there is one.
    pub fn literal(&self, path: &str) -> Option<String> {
        self.exact(path).map(|(_, methods)| allow(methods))
    }

    fn exact(&self, path: &str) -> Option<&(ResourceDef, Vec<Method>)> {
        self.0.iter().find(|(def, _)| def.pattern() == Some(path))
    }
}

fn allow(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The default service: 405 with `Allow` for a known path, else 404.
pub async fn fallback(req: HttpRequest, known: web::Data<KnownPaths>) -> HttpResponse {
    let Some((pattern, methods)) = known.allowed(req.path()) else {
        return HttpResponse::from_error(ApiError::NotFound("Route"));
    };
    req.extensions_mut()
        .insert(AllowedRoute(pattern.to_owned()));
    HttpResponse::from_error(ApiError::MethodNotAllowed {
        allow: Some(allow(&methods)),
    })
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{InfoBuilder, OpenApiBuilder};

    use super::*;

    fn known() -> KnownPaths {
        let op = || OperationBuilder::new().build();
        let mut item = PathItem::new(HttpMethod::Get, op());
        item.patch = Some(op());
        let api = OpenApiBuilder::new()
            .info(InfoBuilder::new().title("t").version("1").build())
            .paths(
                PathsBuilder::new()
                    .path("/api/v1/users/stats", PathItem::new(HttpMethod::Get, op()))
                    .path("/api/v1/users/{id}", item),
            )
            .build();
        KnownPaths::new(&api, &[("/openapi.json", &[Method::GET])])
    }

    #[test]
    fn a_literal_path_lists_its_own_methods_and_others_every_matching_patterns() {
        let known = known();
        let (pattern, methods) = known.allowed("/api/v1/users/stats").unwrap();
        assert_eq!(pattern, "/api/v1/users/stats");
        assert_eq!(methods, [Method::GET]);
        let (pattern, methods) = known.allowed("/api/v1/users/42").unwrap();
        assert_eq!(pattern, "/api/v1/users/{id}");
        assert_eq!(methods, [Method::GET, Method::PATCH]);
        assert_eq!(known.allowed("/openapi.json").unwrap().1, [Method::GET]);
        assert_eq!(known.literal("/api/v1/users/stats").as_deref(), Some("GET"));
        assert_eq!(known.literal("/api/v1/users/42"), None);
    }

    #[test]
    fn an_unknown_path_has_no_methods() {
        let known = known();
        assert!(known.allowed("/api/v1/users/42/extra").is_none());
        assert!(known.allowed("/nowhere").is_none());
    }
}
