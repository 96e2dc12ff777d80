-- Bills a biller client issued to its customers (the gateway's bill presentment), and the payments made on them.
-- A bill is paid into a paybill (`service_provider`) with an account reference (`account_reference`, what the
-- customer types as the account number); `account_match` is that reference trimmed and lower-cased, unique per
-- paybill, so that a payment from the phone (C2B) finds its bill. Amounts are decimal strings: `amount_billed` is
-- what the bill asked for, `amount_paid` the sum of its completed payments (the amount due is the difference).
-- status: unpaid, partialpaid or paid. `notification_url`: where each payment is pushed to the biller.
-- invoice_status: whether the operator's invoicing service (Daraja Bill Manager) sent the bill to the customer:
-- none (not offered for this paybill), pending, sent or failed. `cancelled_at`: when the biller cancelled it (it is
-- no longer listed nor paid, and its account reference is not reused).
CREATE TABLE bills (
    bill_reference TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    service_provider TEXT NOT NULL,
    account_reference TEXT NOT NULL,
    account_match TEXT NOT NULL,
    customer_account TEXT NOT NULL,
    customer TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_billed TEXT NOT NULL,
    amount_paid TEXT NOT NULL,
    minimum_amount_due TEXT,
    status TEXT NOT NULL,
    due_date TEXT,
    description TEXT,
    under_payment_not_allowed INTEGER NOT NULL,
    over_payment_not_allowed INTEGER NOT NULL,
    notification_url TEXT,
    invoice_status TEXT NOT NULL DEFAULT 'none',
    cancelled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (service_provider, account_match)
);
CREATE INDEX bills_customer ON bills (customer_account, created_at);
-- Invoices whose sending may have been interrupted (the reconciler sends them again).
CREATE INDEX bills_invoice_pending ON bills (updated_at) WHERE invoice_status = 'pending';

-- The completed payments of a bill, one per transaction (by the API or from the phone). `body` is the GSMA bill
-- payment (JSON). `receipt` is the operator's (the M-Pesa receipt): one payment that reaches the gateway by two
-- ways (a C2B confirmation and a Bill Manager push) is applied once.
CREATE TABLE bill_payments (
    transaction_reference TEXT PRIMARY KEY,
    bill_reference TEXT NOT NULL,
    amount_paid TEXT NOT NULL,
    currency TEXT NOT NULL,
    receipt TEXT,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX bill_payments_bill ON bill_payments (bill_reference, created_at);
CREATE INDEX bill_payments_receipt ON bill_payments (receipt);
