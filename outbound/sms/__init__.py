"""SMS: the second channel (phone numbers, senders, a provider interface, the Twilio adapter)."""
