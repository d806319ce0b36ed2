"""The web console: pages for the people of the policy, over the same services and policy as the API."""
