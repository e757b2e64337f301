import { z } from '@hono/zod-openapi';
import { FORECAST_METHOD, type Forecast } from './forecast.js';

/** A counter's forecast as the API answers it (README "Forecasts"). */
export const forecastSchema = z
  .object({
    estimate: z.literal(true).openapi({ description: 'Always true: every figure is a projection' }),
    method: z.string().openapi({ example: FORECAST_METHOD }),
    basis_days: z.number().int().openapi({ description: 'Complete UTC days of usage the projection is fitted through (3 to 14)' }),
    daily_rate: z.number().openapi({ description: 'Projected units per day, now' }),
    projected_used: z.number().int().openapi({ description: 'Projected usage when the period ends' }),
    projected_percent: z.number().openapi({ description: 'projected_used / (used + remaining), in %' }),
    limit_reached_at: z
      .string()
      .nullable()
      .openapi({ description: 'When remaining is projected to reach 0, if before the period ends; null otherwise (also when it already has)' }),
    daily_budget: z.number().openapi({ description: 'Units per day that last until the period ends' }),
  })
  .openapi('Forecast');

export const forecastJson = (f: Forecast | null): z.infer<typeof forecastSchema> | null =>
  f && {
    estimate: true,
    method: FORECAST_METHOD,
    basis_days: f.basisDays,
    daily_rate: f.dailyRate,
    projected_used: f.projectedUsed,
    projected_percent: f.projectedPercent,
    limit_reached_at: f.limitReachedAt === null ? null : new Date(f.limitReachedAt).toISOString(),
    daily_budget: f.dailyBudget,
  };
