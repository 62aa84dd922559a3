//! Checking a username and password without revealing, by answer or by time, whether the
//! account exists.

use crate::password::{PasswordHash, PasswordHasher};
use crate::user::User;

#[derive(Debug)]
pub struct UserAuthenticator {
    hasher: PasswordHasher,
    /// Verified against when there is no such user (or it is disabled), so every failure
    /// costs one Argon2 verification, like a success.
    decoy: PasswordHash,
}

impl UserAuthenticator {
    pub fn new(hasher: PasswordHasher) -> Result<Self, argon2::password_hash::Error> {
        let decoy = hasher.unmatchable()?;
        Ok(Self { hasher, decoy })
    }

    /// True only for an enabled user and their password. CPU-heavy by design (Argon2id):
    /// call it off the async executor.
    pub fn check(&self, user: Option<&User>, password: &str) -> bool {
        match user {
            Some(user) => {
                let matches = self.hasher.verify(password, &user.password_hash);
                matches && !user.disabled
            }
            None => {
                let _ = self.hasher.verify(password, &self.decoy);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::Password;
    use crate::user::{UserId, Username};
    use secrecy::SecretString;

    fn user(hasher: &PasswordHasher, disabled: bool) -> User {
        User {
            id: UserId::generate(),
            username: Username::parse("alice").unwrap(),
            email: None,
            password_hash: hasher
                .hash(&Password::new(SecretString::from("correct horse")).unwrap())
                .unwrap(),
            disabled,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn only_an_enabled_user_with_the_right_password_passes() {
        let hasher = PasswordHasher::insecure_fast_for_tests();
        let auth = UserAuthenticator::new(hasher.clone()).unwrap();
        let alice = user(&hasher, false);
        assert!(auth.check(Some(&alice), "correct horse"));
        assert!(!auth.check(Some(&alice), "correct horsf"));
        assert!(!auth.check(Some(&user(&hasher, true)), "correct horse"));
        assert!(!auth.check(None, "correct horse"));
    }
}
