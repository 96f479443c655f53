"""What recipients do with a message: unsubscribe, open, click; and the metrics of it."""
