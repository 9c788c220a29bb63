//! `/users` (sign-up), `/users/login` and `/user` (the caller's account).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use strata_domain::ValidationErrors;
use strata_domain::auth::Principal;
use strata_domain::profiles::{Bio, ImageUrl, Profile, ProfileUpdate};
use strata_domain::text::{self, Lines};
use strata_domain::users::{Email, Password, PasswordPolicy, User, Username};
use strata_service::auth::Registration;
use strata_service::users::ProfileChanges;

use crate::Conduit;
use crate::auth::{Anonymous, Caller};
use crate::error::{About, ConduitError, Subject};
use crate::json::{blank, clearable, is_blank, required, tri_state};

/// Conduit's published rule (NIST SP 800-63B), not Strata's own.
const POLICY: PasswordPolicy = PasswordPolicy::LENGTH_ONLY;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users").route(web::post().to(register)))
        .service(web::resource("/users/login").route(web::post().to(login)))
        .service(
            web::resource("/user")
                .route(web::get().to(current))
                .route(web::put().to(update)),
        );
}

#[derive(Deserialize)]
struct UserEnvelope<T> {
    user: T,
}

/// Every field optional in the type, so that a missing one is reported as
/// Conduit reports a blank one rather than as a shape error.
#[derive(Deserialize)]
struct NewUser {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct Credentials {
    email: Option<String>,
    password: Option<String>,
}

/// `PUT /user`: an absent key leaves its field unchanged.
#[derive(Deserialize)]
struct UserChanges {
    #[serde(default, deserialize_with = "tri_state")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "tri_state")]
    image: Option<Option<String>>,
}

#[derive(Serialize)]
struct UserBody {
    user: UserDto,
}

#[derive(Serialize)]
struct UserDto {
    email: String,
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

fn answer(user: &User, token: String, profile: Option<&Profile>) -> UserBody {
    UserBody {
        user: UserDto {
            email: user.email.as_str().to_owned(),
            token,
            username: user.username.as_str().to_owned(),
            bio: profile.and_then(|p| p.bio.as_ref().map(|b| b.as_str().to_owned())),
            image: profile.and_then(|p| p.image.as_ref().map(|i| i.as_str().to_owned())),
        },
    }
}

/// Blank fields say "can't be blank"; the others the domain's rule. The
/// domain's own complaint about a blank field is dropped, so each field
/// gets one message.
fn parse_registration(new: &NewUser) -> Result<Registration, ValidationErrors> {
    let fields = [
        ("email", new.email.as_deref()),
        ("username", new.username.as_deref()),
        ("password", new.password.as_deref()),
    ];
    let mut errors = ValidationErrors::default();
    let blanks: Vec<&str> = fields
        .iter()
        .filter(|(_, raw)| is_blank(*raw))
        .map(|(field, _)| *field)
        .collect();
    for field in &blanks {
        errors.push(field, blank());
    }
    let parsed = Registration::parse_with(
        new.email.as_deref().unwrap_or_default(),
        new.username.as_deref().unwrap_or_default(),
        new.password.as_deref().unwrap_or_default(),
        None,
        POLICY,
    );
    match parsed {
        // A password of eight spaces passes the length rule; it is still blank.
        Ok(registration) if errors.is_empty() => Ok(registration),
        Ok(_) => Err(errors),
        Err(refused) => {
            let others = refused
                .0
                .into_iter()
                .filter(|e| !blanks.contains(&e.field.as_str()));
            errors.0.extend(others);
            Err(errors)
        }
    }
}

async fn register(
    _: Anonymous,
    conduit: web::Data<Conduit>,
    req: HttpRequest,
    body: web::Json<UserEnvelope<NewUser>>,
) -> Result<HttpResponse, ConduitError> {
    let registration = parse_registration(&body.user)?;
    conduit
        .throttle
        .credentials(&req, registration.email.as_str())
        .await
        .map_err(ConduitError::Throttled)?;
    let (user, tokens) = conduit
        .auth
        .register(registration)
        .await
        .about(Subject::User)?;
    // A new account has no bio or image yet: no need to ask.
    Ok(HttpResponse::Created().json(answer(&user, tokens.access_token, None)))
}

async fn login(
    _: Anonymous,
    conduit: web::Data<Conduit>,
    req: HttpRequest,
    body: web::Json<UserEnvelope<Credentials>>,
) -> Result<HttpResponse, ConduitError> {
    let Credentials { email, password } = body.into_inner().user;
    let mut errors = ValidationErrors::default();
    // Not parsed as an `Email`: an address that no longer passes today's
    // rule must still log in. Only what no query may carry is refused.
    let email = required(&mut errors, "email", email.as_deref(), |raw| {
        text::check(raw, Lines::Single).map(|()| raw.to_owned())
    });
    let password = required(&mut errors, "password", password.as_deref(), |raw| {
        text::check(raw, Lines::Secret).map(|()| raw.to_owned())
    });
    let (Some(email), Some(password)) = (email, password) else {
        return Err(errors.into());
    };
    // The budget is per address whatever its case or padding.
    let subject = email.trim().to_lowercase();
    conduit
        .throttle
        .credentials(&req, &subject)
        .await
        .map_err(ConduitError::Throttled)?;
    let tokens = conduit
        .auth
        .login(&email, &password)
        .await
        .about(Subject::User)?;
    // Login answers only tokens; the account and profile come from the
    // session just started.
    let principal = conduit
        .auth
        .authenticate(&tokens.access_token)
        .about(Subject::User)?;
    let (user, profile) = account(&conduit, &principal).await?;
    Ok(HttpResponse::Ok().json(answer(&user, tokens.access_token, Some(&profile))))
}

async fn account(
    conduit: &Conduit,
    principal: &Principal,
) -> Result<(User, Profile), ConduitError> {
    let user = conduit.users.me(principal).await.about(Subject::User)?;
    let profile = conduit
        .profiles
        .mine(principal)
        .await
        .about(Subject::User)?;
    Ok((user, profile))
}

async fn current(
    caller: Caller,
    conduit: web::Data<Conduit>,
) -> Result<HttpResponse, ConduitError> {
    let (user, profile) = account(&conduit, &caller.principal).await?;
    Ok(HttpResponse::Ok().json(answer(&user, caller.token, Some(&profile))))
}

/// `PUT /user` split by the service that owns each part.
struct Update {
    account: ProfileChanges,
    password: Option<Password>,
    profile: ProfileUpdate,
}

fn parse_update(changes: &UserChanges) -> Result<Update, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let email = changes
        .email
        .as_ref()
        .and_then(|raw| required(&mut errors, "email", raw.as_deref(), Email::parse));
    let username = changes
        .username
        .as_ref()
        .and_then(|raw| required(&mut errors, "username", raw.as_deref(), Username::parse));
    let password = changes.password.as_ref().and_then(|raw| {
        required(&mut errors, "password", raw.as_deref(), |raw| {
            Password::parse_with(raw, POLICY)
        })
    });
    let bio = changes
        .bio
        .as_ref()
        .and_then(|raw| clearable(&mut errors, "bio", raw.as_deref(), Bio::parse));
    let image = changes
        .image
        .as_ref()
        .and_then(|raw| clearable(&mut errors, "image", raw.as_deref(), ImageUrl::parse));
    errors.into_result()?;
    Ok(Update {
        account: ProfileChanges {
            email,
            username,
            full_name: None,
        },
        password,
        profile: ProfileUpdate { bio, image },
    })
}

async fn update(
    caller: Caller,
    conduit: web::Data<Conduit>,
    body: web::Json<UserEnvelope<UserChanges>>,
) -> Result<HttpResponse, ConduitError> {
    let Update {
        account,
        password,
        profile,
    } = parse_update(&body.user)?;
    let principal = &caller.principal;
    // Three services own the three parts, so the change is not atomic; the
    // one most likely refused (a taken e-mail or username) goes first, so
    // that refusal changes nothing.
    let user = if account == ProfileChanges::default() {
        conduit.users.me(principal).await
    } else {
        conduit.users.update_me(principal, account).await
    }
    .about(Subject::User)?;
    let profile = if profile.is_empty() {
        conduit.profiles.mine(principal).await
    } else {
        conduit.profiles.update(principal, profile).await
    }
    .about(Subject::User)?;
    if let Some(password) = password {
        conduit
            .auth
            .replace_password(principal, password)
            .await
            .about(Subject::User)?;
    }
    Ok(HttpResponse::Ok().json(answer(&user, caller.token, Some(&profile))))
}
