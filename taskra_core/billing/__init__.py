"""Plans, usage against them, and the billing providers (Shopify, Stripe) stores pay through."""
