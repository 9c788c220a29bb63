//! Who is calling: `Authorization: Token <jwt>` (or `Bearer <jwt>`),
//! verified by the auth service without I/O, then charged to the throttle.
//!
//! Each handler takes exactly one of [`Caller`], [`MaybeCaller`] or
//! [`Anonymous`], first among its arguments: actix polls extractors in
//! order and answers the first failure, so a missing token is reported
//! before the path or the body is looked at, and every request is charged
//! to the throttle once.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use strata_domain::auth::Principal;

use crate::Conduit;
use crate::error::{About, ConduitError, Subject};

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ConduitError>>>>;

/// An authenticated caller; a protected route without a token is 401.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The access token as presented: `GET /user` hands it back.
    pub token: String,
}

/// A [`Caller`] allowed to write content: with a verified address when
/// `auth.require_verified_email` is on (else 403), as on `/api/v1`. Account
/// upkeep (`PUT /user`, follows) takes [`Caller`], so an unverified account
/// can still fix its address.
#[derive(Debug, Clone)]
pub struct Writer(pub Caller);

impl FromRequest for Writer {
    type Error = ConduitError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let caller = caller.await?;
            let conduit = conduit(&req)?;
            conduit
                .accounts
                .ensure_may_write(&caller.principal)
                .await
                .about(Subject::User)?;
            Ok(Self(caller))
        })
    }
}

/// The caller when a token is presented, `None` for an anonymous reader.
/// A token that is presented but refused is still 401, never silently
/// anonymous, so a client learns its session is over.
#[derive(Debug, Clone, Copy)]
pub struct MaybeCaller(pub Option<Principal>);

/// A route that ignores any token (sign-up, login, tags): charged to the
/// client's address.
#[derive(Debug, Clone, Copy)]
pub struct Anonymous;

/// What the `Authorization` header holds.
enum Presented {
    Absent,
    /// A header that is not `Token <jwt>` or `Bearer <jwt>`.
    Malformed,
    Token(String),
}

fn presented(req: &HttpRequest) -> Presented {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Presented::Absent;
    };
    let token = value.to_str().ok().and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        let known = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
        let token = token.trim();
        (known && !token.is_empty()).then(|| token.to_owned())
    });
    token.map_or(Presented::Malformed, Presented::Token)
}

/// The services, registered by [`crate::scope`].
///
/// # Errors
/// [`ConduitError::Internal`] when the routes were mounted without them.
pub fn conduit(req: &HttpRequest) -> Result<web::Data<Conduit>, ConduitError> {
    req.app_data::<web::Data<Conduit>>()
        .cloned()
        .ok_or_else(|| ConduitError::Internal("Conduit is not registered on the scope".into()))
}

/// Verifies `token`: every refusal (bad, expired, revoked, account gone) is
/// the same 401.
fn verify(conduit: &Conduit, token: &str) -> Result<Principal, ConduitError> {
    conduit.auth.authenticate(token).about(Subject::User)
}

/// Charges one request of `principal` (or of the address) to the throttle.
async fn charge(
    conduit: &Conduit,
    req: &HttpRequest,
    principal: Option<&Principal>,
) -> Result<(), ConduitError> {
    conduit
        .throttle
        .request(req, principal.map(|p| p.user_id))
        .await
        .map_err(ConduitError::Throttled)
}

impl FromRequest for Caller {
    type Error = ConduitError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        // No await before the token is judged: a missing or bad one fails
        // on the first poll, ahead of every later extractor.
        Box::pin(async move {
            let token = match presented(&req) {
                Presented::Absent => return Err(ConduitError::TokenMissing),
                Presented::Malformed => return Err(ConduitError::TokenInvalid),
                Presented::Token(token) => token,
            };
            let conduit = conduit(&req)?;
            let principal = verify(&conduit, &token)?;
            charge(&conduit, &req, Some(&principal)).await?;
            Ok(Self { principal, token })
        })
    }
}

impl FromRequest for MaybeCaller {
    type Error = ConduitError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let conduit = conduit(&req)?;
            let principal = match presented(&req) {
                Presented::Absent => None,
                Presented::Malformed => return Err(ConduitError::TokenInvalid),
                Presented::Token(token) => Some(verify(&conduit, &token)?),
            };
            charge(&conduit, &req, principal.as_ref()).await?;
            Ok(Self(principal))
        })
    }
}

impl FromRequest for Anonymous {
    type Error = ConduitError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let conduit = conduit(&req)?;
            charge(&conduit, &req, None).await?;
            Ok(Self)
        })
    }
}
