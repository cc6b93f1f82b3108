"""What binds an employer tenant to a municipality tenant (public schema): reserved-place
agreements and their versions, eligibility codes (hashed), place claims, releases and place
requests. Ids, counts, dates and money only; never a person's data."""
