"""Plans are data: prices, labels, limits and fee rates, edited by operators."""
