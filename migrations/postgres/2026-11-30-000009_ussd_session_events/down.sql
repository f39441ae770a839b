DROP TABLE ussd_session_events;
