//! Table definitions, matching `migrations/*/` (both backends alike).

diesel::table! {
    accounts (id) {
        id -> BigInt,
        kind -> Text,
        msisdn -> Nullable<Text>,
        till -> Nullable<Text>,
        system_code -> Nullable<Text>,
        contact_msisdn -> Nullable<Text>,
        name -> Text,
        id_number -> Nullable<Text>,
        tier -> Text,
        status -> Text,
        language -> Text,
        balance_minor -> BigInt,
        allow_negative -> Integer,
        out_day -> BigInt,
        out_day_minor -> BigInt,
        pin_hash -> Nullable<Text>,
        pin_failures -> Integer,
        created_at_ms -> BigInt,
        pin_tickets -> BigInt,
        pin_cleared_ticket -> BigInt,
    }
}

diesel::table! {
    transfers (id) {
        id -> BigInt,
        reference -> Text,
        idempotency_key -> Text,
        fingerprint -> Text,
        kind -> Text,
        debit_account_id -> BigInt,
        credit_account_id -> BigInt,
        amount_minor -> BigInt,
        fee_minor -> BigInt,
        commission_minor -> BigInt,
        reverses_transfer_id -> Nullable<BigInt>,
        created_at_ms -> BigInt,
        debit_balance_after_minor -> Nullable<BigInt>,
        credit_balance_after_minor -> Nullable<BigInt>,
        refunds_transfer_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    postings (id) {
        id -> BigInt,
        transfer_id -> BigInt,
        account_id -> BigInt,
        code -> Text,
        amount_minor -> BigInt,
    }
}

diesel::joinable!(postings -> transfers (transfer_id));
diesel::joinable!(postings -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(accounts, transfers, postings);

diesel::table! {
    ussd_sessions (aggregator, session_id) {
        aggregator -> Text,
        session_id -> Text,
        msisdn -> Text,
        language -> Text,
        screen -> Text,
        inputs_seen -> Integer,
        hop_count -> Integer,
        last_mac -> Text,
        last_reply -> Text,
        ended -> Integer,
        created_at_ms -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    pin_sources (source, window_no) {
        source -> Text,
        window_no -> BigInt,
        failures -> Integer,
    }
}

diesel::table! {
    pin_claims (claim) {
        claim -> Text,
        account_id -> BigInt,
        ticket -> BigInt,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    holds (id) {
        id -> BigInt,
        hold_transfer_id -> BigInt,
        kind -> Text,
        payer_id -> BigInt,
        payee_id -> BigInt,
        amount_minor -> BigInt,
        fee_minor -> BigInt,
        commission_minor -> BigInt,
        rule -> Text,
        status -> Text,
        held_at_ms -> BigInt,
        resolved_at_ms -> Nullable<BigInt>,
        resolution_transfer_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    declines (id) {
        id -> BigInt,
        idempotency_key -> Text,
        kind -> Text,
        payer_id -> BigInt,
        payee_id -> BigInt,
        amount_minor -> BigInt,
        rule -> Text,
        declined_at_ms -> BigInt,
    }
}

diesel::table! {
    sim_swaps (msisdn) {
        msisdn -> Text,
        swapped_at_ms -> BigInt,
        source -> Text,
        marked_at_ms -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        account_id -> BigInt,
        key_id -> Text,
        key_hash -> Text,
        created_at_ms -> BigInt,
        revoked_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_idempotency (account_id, idem_key) {
        account_id -> BigInt,
        idem_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    approvals (id) {
        id -> BigInt,
        public_id -> Text,
        kind -> Text,
        code -> Text,
        till_id -> BigInt,
        customer_id -> BigInt,
        amount_minor -> BigInt,
        period -> Nullable<Text>,
        description -> Text,
        status -> Text,
        transfer_id -> Nullable<BigInt>,
        period_no -> BigInt,
        spent_minor -> BigInt,
        created_at_ms -> BigInt,
        expires_at_ms -> BigInt,
        decided_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    allowance_charges (transfer_id) {
        transfer_id -> BigInt,
        approval_id -> BigInt,
        remaining_after_minor -> BigInt,
    }
}

diesel::table! {
    merchant_callbacks (account_id) {
        account_id -> BigInt,
        url -> Text,
        secret -> Text,
        updated_at_ms -> BigInt,
        next_attempt_at_ms -> BigInt,
        lease_until_ms -> BigInt,
        failures -> Integer,
    }
}

diesel::table! {
    callback_events (id) {
        id -> BigInt,
        event_id -> Text,
        account_id -> BigInt,
        #[sql_name = "type"]
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at_ms -> BigInt,
        lease_until_ms -> BigInt,
        last_error -> Nullable<Text>,
        created_at_ms -> BigInt,
        delivered_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    digest_items (id) {
        id -> BigInt,
        account_id -> BigInt,
        transfer_id -> BigInt,
        counterparty_id -> BigInt,
        amount_minor -> BigInt,
        created_at_ms -> BigInt,
        digest_day -> Nullable<BigInt>,
    }
}

diesel::table! {
    admin_keys (id) {
        id -> BigInt,
        name -> Text,
        role -> Text,
        key_hash -> Text,
        created_at_ms -> BigInt,
        revoked_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Text,
        outcome -> Text,
        detail -> Text,
        created_at_ms -> BigInt,
    }
}

diesel::table! {
    admin_idempotency (idem_key) {
        idem_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response_body -> Text,
        created_at_ms -> BigInt,
    }
}
