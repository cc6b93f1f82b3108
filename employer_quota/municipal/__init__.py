"""The employer side as the municipality sees it (installed in every municipality schema):
which applications are eligible for which employer's reserved places, the parent's consent
to share the status with the employer, and the back office for agreements."""
