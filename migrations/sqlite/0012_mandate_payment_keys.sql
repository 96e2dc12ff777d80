-- What the payments an operator takes itself under a mandate carry (e.g. an M-Pesa Ratiba standing order's
-- shortcode and account reference), so that each such payment is matched to its mandate.
ALTER TABLE debit_mandates ADD COLUMN payment_key TEXT;
CREATE INDEX debit_mandates_payment_key ON debit_mandates (provider, payment_key) WHERE payment_key IS NOT NULL;
