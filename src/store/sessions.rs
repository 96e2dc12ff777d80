//! Reads of dashboard sessions (written through [`Change::PutSession`](super::Change::PutSession) and
//! [`Change::DeleteSession`](super::Change::DeleteSession)).

use super::{SessionRow, Store, StoreError};

impl Store {
    /// The session whose cookie digests to `session_digest`, unless it expired by `now_ms`.
    pub async fn session(
        &self,
        session_digest: &str,
        now_ms: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query_as::<_, SessionRow>(
            "SELECT session_digest, client_id, csrf_token, expires_at, created_at FROM dashboard_sessions \
             WHERE session_digest = $1 AND expires_at > $2",
        )
        .bind(session_digest)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?)
    }
}
