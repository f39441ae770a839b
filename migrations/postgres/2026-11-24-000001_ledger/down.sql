DROP TABLE postings; DROP TABLE transfers; DROP TABLE accounts;
