"""Exchange rates: sources tried in order, a shared cache, sanity bounds."""
