SELECT
  *
FROM (
  SELECT
    ROUND(CAST(gcp.cost AS BIGNUMERIC), 10) AS `BilledCost`,
    gcp.billing_account_id AS `BillingAccountId`,
    gcp.currency AS `BillingCurrency`,
    SUBSTRING(gcp.invoice.month, 1, 4) || '-' || SUBSTRING(gcp.invoice.month, 5, 2) || '-01T00:00:00Z' AS `BillingPeriodStart`,
    CASE LOWER(gcp.cost_type)
      WHEN 'regular'
      THEN 'Usage'
      WHEN 'tax'
      THEN 'Tax'
      ELSE 'Adjustment'
    END AS `ChargeCategory`,
    gcp.sku.description AS `ChargeDescription`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', gcp.usage_start_time, 'UTC') AS `ChargePeriodStart`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', gcp.usage_end_time, 'UTC') AS `ChargePeriodEnd`,
    ROUND(
      CAST(CASE WHEN LOWER(gcp.cost_type) = 'regular' THEN gcp.usage.amount END AS BIGNUMERIC),
      10
    ) AS `ConsumedQuantity`,
    CASE WHEN LOWER(gcp.cost_type) = 'regular' THEN gcp.usage.unit END AS `ConsumedUnit`,
    'Google Cloud' AS `ProviderName`,
    gcp.location.region AS `RegionId`,
    gcp.service.description AS `ServiceName`,
    gcp.sku.id AS `SkuId`,
    gcp.sku.description AS `SkuMeter`,
    gcp.project.id AS `SubAccountId`,
    gcp.project.name AS `SubAccountName`,
    (
      SELECT
        CONCAT(
          '{',
          COALESCE(
            STRING_AGG(CONCAT(TO_JSON_STRING(label.key), ':', TO_JSON_STRING(label.value)), ','),
            ''
          ),
          '}'
        )
      FROM UNNEST(gcp.labels) AS label
    ) AS `Tags`
  FROM billing.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C AS gcp
  WHERE
    gcp.usage_start_time >= TIMESTAMP('2026-11-02 00:00:00+00')
    AND gcp.usage_start_time < TIMESTAMP('2026-11-05 00:00:00+00')
    AND gcp.billing_account_id = '0A1B2C-3D4E5F-6A7B8C'
    AND gcp.service.description IN ('Vertex AI')
  UNION ALL
  SELECT
    ROUND(CAST(credit.amount AS BIGNUMERIC), 10) AS `BilledCost`,
    gcp.billing_account_id AS `BillingAccountId`,
    gcp.currency AS `BillingCurrency`,
    SUBSTRING(gcp.invoice.month, 1, 4) || '-' || SUBSTRING(gcp.invoice.month, 5, 2) || '-01T00:00:00Z' AS `BillingPeriodStart`,
    'Credit' AS `ChargeCategory`,
    credit.name AS `ChargeDescription`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', gcp.usage_start_time, 'UTC') AS `ChargePeriodStart`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', gcp.usage_end_time, 'UTC') AS `ChargePeriodEnd`,
    ROUND(CAST(NULL AS BIGNUMERIC), 10) AS `ConsumedQuantity`,
    NULL AS `ConsumedUnit`,
    'Google Cloud' AS `ProviderName`,
    gcp.location.region AS `RegionId`,
    gcp.service.description AS `ServiceName`,
    gcp.sku.id AS `SkuId`,
    gcp.sku.description AS `SkuMeter`,
    gcp.project.id AS `SubAccountId`,
    gcp.project.name AS `SubAccountName`,
    (
      SELECT
        CONCAT(
          '{',
          COALESCE(
            STRING_AGG(CONCAT(TO_JSON_STRING(label.key), ':', TO_JSON_STRING(label.value)), ','),
            ''
          ),
          '}'
        )
      FROM UNNEST(gcp.labels) AS label
    ) AS `Tags`
  FROM billing.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C AS gcp
  CROSS JOIN UNNEST(gcp.credits) AS credit
  WHERE
    gcp.usage_start_time >= TIMESTAMP('2026-11-02 00:00:00+00')
    AND gcp.usage_start_time < TIMESTAMP('2026-11-05 00:00:00+00')
    AND gcp.billing_account_id = '0A1B2C-3D4E5F-6A7B8C'
    AND gcp.service.description IN ('Vertex AI')
) AS window_rows
