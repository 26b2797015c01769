"""Scripts that fit a default of rag/config.py; each names the setting it fits, and the setting's description
names the script and the questions it was fitted on."""
