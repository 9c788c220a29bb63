//! The extractors of the auth routes: login credentials in either encoding,
//! and a JSON body that may be absent.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use validator::Validate;

use super::dto::{LoginForm, LoginRequest};
use crate::error::ApiError;
use crate::extract::{ValidatedJson, validation_problem};

/// The login body in either of its two accepted encodings.
#[derive(Debug)]
pub struct LoginCredentials {
    pub(super) username: String,
    pub(super) password: String,
}

impl FromRequest for LoginCredentials {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let bytes = crate::extract::body_bytes(req, payload);
            Box::pin(async move {
                let form: LoginForm = crate::body::decode_form(&bytes.await?)?;
                form.validate().map_err(validation_problem)?;
                if form.grant_type.as_deref().is_some_and(|g| g != "password") {
                    return Err(ApiError::Malformed(
                        "Only grant_type=password is supported.".into(),
                    )
                    .into());
                }
                Ok(Self {
                    username: form.username,
                    password: form.password,
                })
            })
        } else {
            let json = ValidatedJson::<LoginRequest>::from_request(req, payload);
            Box::pin(async move {
                let body = json.await?.0;
                Ok(Self {
                    username: body.username,
                    password: body.password,
                })
            })
        }
    }
}

/// A JSON body that may be absent altogether (cookie-mode refresh sends none).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + Validate + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_none_or(|len| len.as_bytes() == b"0");
        if empty && !req.headers().contains_key(header::TRANSFER_ENCODING) {
            return Box::pin(async { Ok(Self(None)) });
        }
        if let Err(err) = crate::extract::require_json(req) {
            return Box::pin(std::future::ready(Err(err.into())));
        }
        let bytes = crate::extract::body_bytes(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            // `null` is the JSON for "no body", as the document declares.
            if bytes.trim_ascii() == b"null" {
                return Ok(Self(None));
            }
            Ok(Self(Some(crate::extract::decode_validated(&bytes)?)))
        })
    }
}
