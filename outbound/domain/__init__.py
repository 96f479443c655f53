"""Domain vocabulary shared by the API, the store, workflows and activities."""
