"""Real-component fixtures built on their libraries."""
