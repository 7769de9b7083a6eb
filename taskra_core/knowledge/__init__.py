"""What a store knows: its products, policies and FAQs as searchable knowledge, and its orders."""
