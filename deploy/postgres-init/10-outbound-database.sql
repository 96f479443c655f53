-- Outbound's own database beside Temporal's (which auto-setup creates itself).
CREATE USER outbound WITH PASSWORD 'outbound';
CREATE DATABASE outbound OWNER outbound;
