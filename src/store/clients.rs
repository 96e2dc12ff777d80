//! Reads of the client registry and of OAuth access tokens.

use super::{ClientRow, Store, StoreError};

const CLIENT_COLUMNS: &str = "SELECT client_id, name, secret_hash, api_key_digest, signing_key, role, \
    allowed_providers, callback_hosts, accounts, rate_limit_per_sec, disabled, created_at, updated_at FROM clients";

impl Store {
    /// The client with this consumer key.
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, ClientRow>(&format!("{CLIENT_COLUMNS} WHERE client_id = $1"))
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The client whose API key has this digest.
    pub async fn client_by_api_key_digest(
        &self,
        digest: &str,
    ) -> Result<Option<ClientRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, ClientRow>(&format!("{CLIENT_COLUMNS} WHERE api_key_digest = $1"))
                .bind(digest)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every client, oldest first.
    pub async fn clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        Ok(sqlx::query_as::<_, ClientRow>(&format!(
            "{CLIENT_COLUMNS} ORDER BY created_at, client_id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The client an unexpired access token with this digest was issued to, and when it expires.
    pub async fn access_token(
        &self,
        digest: &str,
        now_ms: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "SELECT client_id, expires_at FROM access_tokens WHERE token_digest = $1 AND expires_at > $2",
        )
        .bind(digest)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?)
    }
}
