DROP TABLE msisdn_preferences; DROP TABLE ussd_sessions;
